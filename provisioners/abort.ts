/**
 * Waiting on shared work (a token request, a shared listing) without being stuck in it: a caller
 * whose own signal aborts leaves at once while the shared promise keeps running for the others.
 */

/** Resolve with `promise` unless `signal` aborts first (the promise itself keeps running). */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal, abortedError: () => Error = () => abortError(signal)): Promise<T> {
  if (signal.aborted) return Promise.reject(abortedError())
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError())
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
}

/** The signal's reason when it is an Error, else a plain 'aborted'. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  return reason instanceof Error ? reason : new Error('aborted')
}
