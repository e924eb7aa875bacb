// The one error type of the client library: a stable `code` (the server's own, or the client's such as
// `client_closed`), and the HTTP status when the error came from an HTTP answer.

export class OncelyClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'OncelyClientError';
  }
}
