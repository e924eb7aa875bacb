// Reading an SSE response in tests as a browser's EventSource would: each message with its event name, id and
// JSON data, and the comment lines (heartbeats), collected in the background until the response ends or aborts.

export interface SseMessage {
  /** `message` unless the block named another event. */
  event: string;
  id?: string;
  data: any;
}

export function collectSse(res: Response): { messages: SseMessage[]; comments: string[] } {
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  if (!res.ok || !res.body) return { messages, comments };
  void (async () => {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const msg: SseMessage = { event: 'message', data: undefined };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line);
            else if (line.startsWith('event: ')) msg.event = line.slice(7);
            else if (line.startsWith('id: ')) msg.id = line.slice(4);
            else if (line.startsWith('data: ')) msg.data = JSON.parse(line.slice(6));
          }
          if (msg.data !== undefined) messages.push(msg);
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return { messages, comments };
}
