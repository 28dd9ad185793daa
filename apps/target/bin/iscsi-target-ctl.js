#!/usr/bin/env node
// The iscsi-target-ctl command: administration of a running iscsi-target over its admin socket.
const { ctlCli } = await import('../dist/admin/ctl-cli.js');
ctlCli();
