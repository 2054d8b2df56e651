#ifndef TALLY_CSQLITE_SHIM_H
#define TALLY_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a function-like cast macro Swift cannot import: it tells SQLite to copy
// a bound buffer before the bind call returns.
static inline sqlite3_destructor_type tally_sqlite_transient(void) { return SQLITE_TRANSIENT; }

#endif
