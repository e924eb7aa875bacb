// The page: sign-in until a user token is known, then the chat for that user.
import { useCallback, useState } from 'preact/hooks';
import { Chat } from './chat.js';
import { SignIn } from './sign-in.js';
import { loadSession, saveToken, signOut, type Session } from './session.js';

export function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const [reason, setReason] = useState<string>();
  const onSignOut = useCallback((why?: string) => {
    signOut();
    setReason(why);
    setSession(undefined);
  }, []);
  if (!session) {
    return (
      <SignIn
        reason={reason}
        onSignIn={(s) => {
          saveToken(s.token);
          setReason(undefined);
          setSession(s);
        }}
      />
    );
  }
  return <Chat key={session.token} session={session} onSignOut={onSignOut} />;
}
