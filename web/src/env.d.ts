/// <reference types="vite/client" />
// The server modules the console takes types from (type-only) rely on pino-http's augmentation
// of express' Request (`req.id`), which the server's own program picks up from src/http/app.ts.
import type {} from 'pino-http'
