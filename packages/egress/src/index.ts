export { parseAddress, refusedRange } from './address-ranges.ts';
export { EgressAllowList, egressAllowFromConfig, type EgressAllowEntry } from './allow-list.ts';
export { EgressPolicy, type ConnectLookup, type EgressPolicyOptions, type EgressTarget, type Resolver } from './egress-policy.ts';
export { EgressHttpAgent, EgressHttpsAgent, egressAgent, egressConnect } from './egress-agent.ts';
export { EgressClient, EgressTimeoutError, type EgressAnswer } from './egress-client.ts';
