#!/usr/bin/env node
// The iscsi-target command. libuv sizes its threadpool (used by the file
// backends' preadv/pwritev) on first use and reads UV_THREADPOOL_SIZE then,
// so the default (src/threadpool.ts) is set here, before anything else is loaded.
const { setDefaultUvThreadpoolSize } = await import('../dist/threadpool.js');
setDefaultUvThreadpoolSize();
const { cli } = await import('../dist/main.js');
cli();
