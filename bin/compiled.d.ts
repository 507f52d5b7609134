// Types of bin/compiled.js (plain JavaScript: bin/tenure.js loads it before type stripping).
export declare const root: string
export declare function compiledIsFresh(file: string): boolean
