// `@cocoon/contracts/sandbox`: the embedded chain (@ton/sandbox's TVM emulator) and its loopback JSON-RPC.
// Apart from the main entry so that roles on testnet or mainnet never load the emulator; openChain imports
// it on its own when the network is 'sandbox'.
export { CHAIN_RPC_PATH, type ChainRpcServer, serveChainRpc } from './chain/local-rpc.js';
export { ChainStateError, SandboxChain, type SandboxChainOptions } from './chain/sandbox.js';
