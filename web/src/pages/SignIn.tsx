import { useEffect, useRef, useState, type FormEvent } from 'react'
import { completeSso, setSession, signInNotice, startSso } from '../auth.ts'
import { ApiError, getJson } from '../api.ts'
import { navigate } from '../router.tsx'
import type { ConsoleConfig, Whoami } from '../types.ts'
import { ErrorBox, useTitle } from '../ui.tsx'

export function SignIn({ config }: { config: ConsoleConfig }) {
  useTitle('Sign in')
  const [token, setToken] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const notice = signInNotice()

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    const value = token.trim()
    try {
      // Check the token before keeping it: a typo gets an answer here, not on every screen.
      await getJson<Whoami>('/api/v1/whoami', value)
      setSession({ kind: 'token', token: value, expiresAt: null })
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? new Error('This token was refused: unknown, expired or revoked.') : err)
      setBusy(false)
    }
  }

  const sso = async () => {
    setBusy(true)
    setError(null)
    try {
      await startSso(config.oidc!, location.pathname + location.search)
    } catch (err) {
      setError(err)
      setBusy(false)
    }
  }

  return (
    <main className="narrow signin" id="main">
      <h1>Sign in to Tenure</h1>
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      {config.oidc && (
        <>
          <button type="button" className="primary wide" onClick={sso} disabled={busy}>
            Sign in with single sign-on
          </button>
          <p className="or">or</p>
        </>
      )}
      <form onSubmit={submit} className="stack">
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          required
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-describedby="token-help"
        />
        <p id="token-help" className="muted small">
          A token from <code>tenure tokens create</code>
          {config.sandbox ? ', or one of the sandbox tokens printed by npm start (also in .tenure/sandbox-tokens.json)' : ''}. It stays in this tab only.
        </p>
        <button type="submit" className={config.oidc ? '' : 'primary'} disabled={busy || token.trim() === ''}>
          Sign in with token
        </button>
      </form>
      <ErrorBox error={error} />
    </main>
  )
}

export function Callback() {
  useTitle('Signing in')
  const [error, setError] = useState<unknown>(null)
  const started = useRef(false)
  useEffect(() => {
    // StrictMode runs effects twice in development; a code can be redeemed once.
    if (started.current) return
    started.current = true
    completeSso(location.search).then(
      (returnTo) => navigate(returnTo.startsWith('/') && !returnTo.startsWith('//') ? returnTo : '/', { replace: true }),
      (err: unknown) => setError(err),
    )
  }, [])
  return (
    <main className="narrow" id="main">
      <h1>Signing in…</h1>
      <ErrorBox error={error} />
      {error ? (
        <p>
          <a href="/">Back to sign-in</a>
        </p>
      ) : null}
    </main>
  )
}
