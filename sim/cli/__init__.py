"""The `salvo` command line: `parser` (one small function per command), `commands` (each a few
lines over the library function behind it), `app` (the console script and its exit statuses)."""
