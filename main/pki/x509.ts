// The one place that loads @peculiar/x509: it needs the Reflect metadata functions in place
// first, and Node's WebCrypto as its crypto provider. Every PKI module imports x509 from here.

import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** Node's WebCrypto: the library's crypto provider, and what every PKI module signs with. */
export const webCrypto = webcrypto;
/** WebCrypto's key types as Node declares them (the engine is compiled without the DOM). */
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webCrypto);

export { x509 };
