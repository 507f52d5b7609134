/**
 * One banner while the Tenure server cannot be reached: what is on screen is as of the last
 * successful load, countdowns are paused, and the console keeps asking until the server answers.
 */
import { useEffect, useSyncExternalStore } from 'react'
import { request, serverStatus, subscribeServerStatus } from '../api.ts'

const PROBE_MS = 3000

export function ServerDownBanner() {
  const server = useSyncExternalStore(subscribeServerStatus, serverStatus)
  useEffect(() => {
    if (!server.down) return
    // Pages that do not refresh on their own would never notice the server is back.
    const timer = setInterval(() => {
      request('/api/v1/console/config', {}, '').catch(() => undefined)
    }, PROBE_MS)
    return () => clearInterval(timer)
  }, [server.down])
  if (!server.down) return null
  return (
    <div className="server-down" role="alert" data-testid="server-down">
      <strong>Cannot reach the Tenure server</strong> since {new Date(server.since ?? Date.now()).toLocaleTimeString()}. What you see is as of the last
      successful load, countdowns are paused, and nothing that could not be loaded is shown as empty. Retrying every few seconds.
    </div>
  )
}
