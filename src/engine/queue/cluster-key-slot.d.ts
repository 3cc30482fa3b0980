/** The part of cluster-key-slot's API the queue shards use (the package ships no types; ioredis uses it too). */
declare module "cluster-key-slot" {
  /** The Redis Cluster slot of a key, of its hash tag when it has a non-empty one (CLUSTER KEYSLOT). */
  export default function calculateSlot(key: string): number;
}
