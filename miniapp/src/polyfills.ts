// @ton/core (receipt cells) expects Node's Buffer as a global; browsers get the `buffer` package's.
import { Buffer } from 'buffer';

const scope = globalThis as { Buffer?: typeof Buffer };
scope.Buffer ??= Buffer;
