import { useState } from 'preact/hooks';
import { api, type Session } from '../api.ts';
import { ErrorBox } from '../components/common.tsx';

/**
 * The login form: an API key with the admin scope (its own tenant) or the operator scope
 * (every tenant). The key goes to the server once; the page keeps only the session
 * cookie (HttpOnly, so no script reads it) and the CSRF token of the answer.
 */
export function LoginPage({ onLogin }: { onLogin: (session: Session) => void }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>(undefined);
  const submit = (event: Event) => {
    event.preventDefault();
    setBusy(true);
    api.post<Session>('/login', { api_key: key }).then(
      (session) => {
        setKey('');
        onLogin(session);
      },
      (reason: unknown) => {
        setBusy(false);
        setError(reason instanceof Error ? reason : new Error(String(reason)));
      },
    );
  };
  return (
    <div class="login">
      <form class="card" onSubmit={submit}>
        <h1>
          commstrat <span>console</span>
        </h1>
        <p class="muted">Log in with an API key that has the <code>admin</code> scope (your tenant) or the <code>operator</code> scope (every tenant).</p>
        <label>
          API key
          <input name="api_key" type="password" autoComplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} required />
        </label>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy || key === ''}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </div>
  );
}
