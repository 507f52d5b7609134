import { createContext, useContext, useEffect, useRef, useSyncExternalStore, type ReactNode } from 'react'
import { currentSession, signOut, subscribe, CALLBACK_PATH } from './auth.ts'
import { getJson } from './api.ts'
import { Link, useLocation } from './router.tsx'
import type { ConsoleConfig, Whoami } from './types.ts'
import { ErrorBox, Loading, useData, useTitle } from './ui.tsx'
import { can } from './roles.ts'
import { SignIn, Callback } from './pages/SignIn.tsx'
import { Dashboard } from './pages/Dashboard.tsx'
import { Employees, EmployeePage } from './pages/Employees.tsx'
import { Approvals, PendingCount } from './pages/Approvals.tsx'
import { Tasks } from './pages/Tasks.tsx'
import { Operations } from './pages/Operations.tsx'
import { Findings } from './pages/Findings.tsx'
import { Audit } from './pages/Audit.tsx'
import { Sandbox } from './pages/Sandbox.tsx'
import { Admin } from './pages/Admin.tsx'
import { ServerDownBanner } from './pages/ServerDown.tsx'

export interface Viewer {
  me: Whoami
  config: ConsoleConfig
}

const ViewerContext = createContext<Viewer | null>(null)

export function useViewer(): Viewer {
  const v = useContext(ViewerContext)
  if (!v) throw new Error('useViewer outside a signed-in page')
  return v
}

export function App() {
  return (
    <>
      <ServerDownBanner />
      <Screens />
    </>
  )
}

function Screens() {
  const session = useSyncExternalStore(subscribe, currentSession)
  const { path } = useLocation()
  const config = useData(() => getJson<ConsoleConfig>('/api/v1/console/config', ''), [])
  if (config.error) return <main className="narrow"><ErrorBox error={config.error} /></main>
  if (!config.data) return <main className="narrow"><Loading what="the console" /></main>
  if (path === CALLBACK_PATH) return <Callback />
  if (!session) return <SignIn config={config.data} />
  return <SignedIn key={session.token} config={config.data} />
}

function SignedIn({ config }: { config: ConsoleConfig }) {
  const me = useData(() => getJson<Whoami>('/api/v1/whoami'), [])
  if (me.error) {
    return (
      <main className="narrow">
        <ErrorBox error={me.error} />
        <button type="button" onClick={() => signOut()}>
          Sign out
        </button>
      </main>
    )
  }
  if (!me.data) return <main className="narrow"><Loading what="who you are" /></main>
  return (
    <ViewerContext.Provider value={{ me: me.data, config }}>
      <Shell />
    </ViewerContext.Provider>
  )
}

interface NavItem {
  to: string
  label: string
  show: boolean
  /** A live figure beside the label (the approvals waiting for a decision). */
  count?: ReactNode
}

function Shell() {
  const { me, config } = useViewer()
  const { path } = useLocation()
  const main = useRef<HTMLElement>(null)
  const first = useRef(true)
  // A new screen: move focus to it, so keyboard and screen-reader users start at its heading.
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    main.current?.focus()
  }, [path])
  const nav: NavItem[] = [
    { to: '/', label: 'Dashboard', show: can.seeCases(me.roles) },
    { to: '/employees', label: 'Employees', show: can.seeCases(me.roles) },
    { to: '/approvals', label: can.decideExceptions(me.roles) ? 'Approvals' : 'Exceptions', show: can.seeExceptions(me.roles), count: can.decideExceptions(me.roles) ? <PendingCount /> : undefined },
    { to: '/tasks', label: 'Manual tasks', show: can.seeExceptions(me.roles) },
    { to: '/operations', label: 'Operations', show: can.seeOperations(me.roles) },
    { to: '/findings', label: 'Findings', show: can.findings(me.roles) },
    { to: '/audit', label: 'Audit', show: can.audit(me.roles) },
    { to: '/sandbox', label: 'Sandbox', show: config.sandbox && can.sandbox(me.roles) },
    { to: '/admin', label: 'Admin', show: can.administer(me.roles) },
  ]
  const section = '/' + (path.split('/')[1] ?? '')
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          Tenure
        </Link>
        <nav aria-label="Main">
          <ul>
            {nav
              .filter((n) => n.show)
              .map((n) => (
                <li key={n.to}>
                  <Link to={n.to} aria-current={section === n.to ? 'page' : undefined}>
                    {n.label}
                    {n.count}
                  </Link>
                </li>
              ))}
          </ul>
        </nav>
        <div className="who">
          <span data-testid="whoami">
            {me.name ?? me.id} <span className="muted">({me.roles.join(', ') || 'no role'})</span>
          </span>
          <button type="button" className="link" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Screen path={path} />
      </main>
      <footer className="foot muted">
        Tenure {config.version}
        {config.sandbox ? ' · sandbox' : ''} · times in your time zone ({Intl.DateTimeFormat().resolvedOptions().timeZone}); hover a time for UTC
      </footer>
    </>
  )
}

function Screen({ path }: { path: string }) {
  const { me, config } = useViewer()
  const employee = /^\/employees\/([0-9a-f-]{36})$/.exec(path)
  if (employee) return <EmployeePage id={employee[1]!} />
  switch (path) {
    case '/':
      return can.seeCases(me.roles) ? <Dashboard /> : <NotOffered />
    case '/employees':
      return <Employees />
    case '/approvals':
      return can.seeExceptions(me.roles) ? <Approvals /> : <NotOffered />
    case '/tasks':
      return <Tasks />
    case '/operations':
      return can.seeOperations(me.roles) ? <Operations /> : <NotOffered />
    case '/findings':
      return can.findings(me.roles) ? <Findings /> : <NotOffered />
    case '/audit':
      return can.audit(me.roles) ? <Audit /> : <NotOffered />
    case '/admin':
      return can.administer(me.roles) ? <Admin /> : <NotOffered />
    case '/sandbox':
      return config.sandbox && can.sandbox(me.roles) ? <Sandbox /> : <NotOffered />
    default:
      return <NotFound path={path} />
  }
}

function NotFound({ path }: { path: string }) {
  useTitle('Not found')
  return (
    <>
      <h1>Not found</h1>
      <p>
        There is no page at {path}. <Link to="/">Go to the dashboard</Link>.
      </p>
    </>
  )
}

function NotOffered() {
  const { me } = useViewer()
  useTitle('Not available')
  return (
    <>
      <h1>Not available to your role</h1>
      <p>Your roles ({me.roles.join(', ') || 'none'}) do not include this screen. Ask an admin if you need it.</p>
    </>
  )
}
