// Preloaded into the MCP servers the tests start over HTTP (node --require): every server socket
// listens on 127.0.0.1 only, whatever the server asked for, and reports the port it got on stderr
// ("LOOMFLOW_LISTENING <port>") so a test can start it on port 0 without guessing a free port.
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    args[0] = Number(args[0]);
    if (typeof args[1] === 'string') args[1] = '127.0.0.1';
    else args.splice(1, 0, '127.0.0.1');
  } else if (args[0] && typeof args[0] === 'object' && !Array.isArray(args[0]) && !('fd' in args[0])) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  this.once('listening', () => {
    const address = this.address();
    if (address && typeof address === 'object') process.stderr.write(`LOOMFLOW_LISTENING ${address.port}\n`);
  });
  return listen.apply(this, args);
};
