// The one place that loads @peculiar/x509: it needs the Reflect metadata functions in place
// first, and Node's WebCrypto as its crypto provider. Every PKI module imports x509 from here.

import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** Node's WebCrypto, typed as the DOM Crypto the library expects. */
export const webCrypto = webcrypto as unknown as Crypto;

x509.cryptoProvider.set(webCrypto);

export { x509 };
