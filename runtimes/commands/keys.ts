// `reservegrid keys …`: authority key pairs in SRI's text forms (SV2.md §3.3), so an operator
// can mint the key that signs the gateway's Noise certificates (SV2.md §3.6) and hand the public
// half to miners, without any other tool.
import type { CliIo, Command } from '../io.ts';
import {
  authorityPublicKeyFromSecret,
  decodeAuthoritySecretKey,
  encodeAuthorityPublicKey,
  generateAuthorityKeyPair,
} from '../../core/noise/keys.ts';

const GENERATE_USAGE = 'keys generate';
const PUBLIC_USAGE = 'keys public <authority_secret_key>';

const generate: Command = {
  words: ['keys', 'generate'],
  usage: GENERATE_USAGE,
  summary: 'Create a pool authority key pair and print it as TOML',
  docs: 'docs/noise.md',
  run(args: readonly string[], io: CliIo): number {
    if (args.length !== 0) {
      io.stderr(`reservegrid keys generate: unexpected argument '${args[0]}'\nUsage: reservegrid ${GENERATE_USAGE}\n`);
      return 2;
    }
    const pair = generateAuthorityKeyPair(io.random);
    io.stdout(
      [
        '# Pool authority key pair (Stratum V2 Noise certificates, BIP340 / secp256k1).',
        '# The SECRET key stays on the gateway: it signs the certificate of every Noise handshake.',
        '# The PUBLIC key goes to miners (e.g. stratum2+tcp://host:port/<public key>) so they can',
        '# check that they talk to this gateway.',
        `authority_public_key = "${pair.publicKey}"`,
        `authority_secret_key = "${pair.secretKeyText}"`,
        '',
      ].join('\n'),
    );
    pair.secretKey.fill(0);
    return 0;
  },
};

const publicFromSecret: Command = {
  words: ['keys', 'public'],
  usage: PUBLIC_USAGE,
  summary: 'Print the authority public key that belongs to a secret key',
  docs: 'docs/noise.md',
  run(args: readonly string[], io: CliIo): number {
    if (args.length !== 1) {
      io.stderr(`reservegrid keys public: expected exactly one secret key\nUsage: reservegrid ${PUBLIC_USAGE}\n`);
      return 2;
    }
    const secret = decodeAuthoritySecretKey(args[0]!);
    if (!secret.ok) {
      // The message never echoes the key itself: it may be a real secret with a typo.
      io.stderr(`reservegrid keys public: ${secret.error.message}\n`);
      return 1;
    }
    io.stdout(`${encodeAuthorityPublicKey(authorityPublicKeyFromSecret(secret.value))}\n`);
    secret.value.fill(0);
    return 0;
  },
};

export const keysCommands: Command[] = [generate, publicFromSecret];
