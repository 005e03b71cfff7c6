import { useEffect, useState } from 'preact/hooks';
import { LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { api, setCsrfToken, whenSessionEnds, type Session } from './api.ts';
import { ErrorBox } from './components/common.tsx';
import { TenantPicker } from './components/tenant-picker.tsx';
import { SessionContext, useHref } from './hooks.ts';
import { DeadLettersPage } from './pages/dead-letters.tsx';
import { LanesPage } from './pages/lanes.tsx';
import { LoginPage } from './pages/login.tsx';
import { MessagePage } from './pages/message.tsx';
import { MessagesPage } from './pages/messages.tsx';
import { ProvidersPage } from './pages/providers.tsx';
import { VersionedListPage, VersionedPage } from './pages/versioned.tsx';
import { RESOURCES } from './resources.ts';

/** The whole page: who is logged in decides between the login form and the console. */
export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const accept = (next: Session | null) => {
    setCsrfToken(next?.csrf_token);
    setSession(next);
  };
  useEffect(() => {
    whenSessionEnds(() => accept(null));
    api.get<Session>('/session').then(accept, (reason: unknown) => {
      accept(null);
      if (!(reason instanceof Error && 'status' in reason && reason.status === 401)) setError(reason instanceof Error ? reason : new Error(String(reason)));
    });
  }, []);
  if (session === undefined) return <p class="muted loading">Loading…</p>;
  return (
    <LocationProvider scope="/console">
      {session === null ? (
        <>
          <ErrorBox error={error} />
          <LoginPage onLogin={accept} />
        </>
      ) : (
        <SessionContext.Provider value={session}>
          <Shell session={session} onLogout={() => accept(null)} />
        </SessionContext.Provider>
      )}
    </LocationProvider>
  );
}

const NAV: readonly (readonly [string, string])[] = [
  ['/messages', 'Messages'],
  ...RESOURCES.map((resource) => [`/${resource.path}`, resource.title] as const),
  ['/providers', 'Providers'],
  ['/dead-letters', 'Dead letters'],
  ['/lanes', 'Lanes'],
];

function Shell({ session, onLogout }: { session: Session; onLogout: () => void }) {
  const { path } = useLocation();
  const href = useHref();
  const logout = () => {
    void api.post('/logout', {}).finally(onLogout);
  };
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href={href('/messages')}>
          commstrat <span>console</span>
        </a>
        <nav>
          {NAV.map(([to, label]) => (
            <a key={to} href={href(to)} class={path.startsWith(`/console${to}`) ? 'active' : ''}>
              {label}
            </a>
          ))}
        </nav>
        <TenantPicker />
        <div class="who" title={`key ${session.key_id ?? ''}: ${session.scopes.join(', ')}`}>
          <span class={`badge ${session.role === 'operator' ? 'warn' : 'info'}`}>{session.role}</span>
          {session.role === 'admin' && <span class="tenant-name">{session.tenant.name}</span>}
          {session.pii ? <span class="badge bad">PII shown</span> : <span class="badge muted">PII masked</span>}
          <button type="button" class="link" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      <main>
        <Router>
          <Route path="/console/messages" component={MessagesPage} />
          <Route path="/console/messages/:id" component={MessagePage} />
          {RESOURCES.flatMap((resource) => [
            <Route key={`${resource.path}-list`} path={`/console/${resource.path}`} component={VersionedListPage} resource={resource} />,
            <Route key={`${resource.path}-one`} path={`/console/${resource.path}/:name`} component={VersionedPage} resource={resource} />,
          ])}
          <Route path="/console/providers" component={ProvidersPage} />
          <Route path="/console/dead-letters" component={DeadLettersPage} />
          <Route path="/console/lanes" component={LanesPage} />
          <Route default component={MessagesPage} />
        </Router>
      </main>
    </div>
  );
}
