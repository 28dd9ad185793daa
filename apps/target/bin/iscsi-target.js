#!/usr/bin/env node
// The iscsi-target command. libuv sizes its threadpool (used by the file
// backends' pread/pwritev) on first use and reads UV_THREADPOOL_SIZE then,
// so the default is set here, before anything else is loaded.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { cli } = await import('../dist/main.js');
cli();
