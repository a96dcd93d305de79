// The Chain edge is defined in shared; the adapters here implement it.
export * from '@cocoon/shared/chain';
