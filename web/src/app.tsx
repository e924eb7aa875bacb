// The page: sign-in until a user token is known, then the chat for that user. A sign-in link opened in a
// tab that already shows the page (only its fragment changes) signs in too.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { Chat } from './chat.js';
import { SignIn } from './sign-in.js';
import { loadSession, saveToken, sessionFromLink, signOut, type Session } from './session.js';

export function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const [reason, setReason] = useState<string>();
  const onSignOut = useCallback((why?: string) => {
    signOut();
    setReason(why);
    setSession(undefined);
  }, []);
  useEffect(() => {
    const onHashChange = () => {
      const fromLink = sessionFromLink();
      if (fromLink === undefined) return;
      if (fromLink === null) {
        setReason('That sign-in link does not carry a valid user token.');
        return;
      }
      setReason(undefined);
      setSession(fromLink);
    };
    addEventListener('hashchange', onHashChange);
    return () => removeEventListener('hashchange', onHashChange);
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
