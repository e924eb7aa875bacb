// Sign-in: paste a user token (an app issues them with POST /v1/users/{userId}/tokens); demo mode prints
// ready-made links that carry one in `#token=…`.
import { useState } from 'preact/hooks';
import { parseToken, type Session } from './session.js';

export function SignIn({
  onSignIn,
  reason,
}: {
  onSignIn(session: Session): void;
  reason: string | undefined;
}) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  return (
    <main class="sign-in">
      <h1>oncely chat</h1>
      {reason && (
        <p class="notice" role="alert">
          {reason}
        </p>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const session = parseToken(token.trim());
          if (!session) {
            setError('That does not look like a user token.');
            return;
          }
          onSignIn(session);
        }}
      >
        <label for="token-input">User token</label>
        <textarea
          id="token-input"
          rows={4}
          value={token}
          aria-describedby="token-help"
          aria-invalid={error ? true : undefined}
          onInput={(e) => {
            setToken(e.currentTarget.value);
            setError(undefined);
          }}
          // A token is one line: Enter signs in, as in any one-field form.
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
        />
        <p id="token-help" class="help">
          Paste a token issued by your app, or open one of the sign-in links oncely prints in demo mode.
        </p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}
