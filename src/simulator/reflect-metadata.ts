/**
 * @peculiar/x509 loads tsyringe, which refuses to start without a Reflect metadata polyfill and
 * none is installed. This is the small subset tsyringe calls (design-time parameter types), kept
 * per target in a WeakMap. Import it before @peculiar/x509.
 */
type Key = string | symbol;
const store = new WeakMap<object, Map<Key | undefined, Map<unknown, unknown>>>();

function table(
  target: object,
  property: Key | undefined,
  create: boolean,
): Map<unknown, unknown> | undefined {
  let byProperty = store.get(target);
  if (!byProperty && create) {
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let entries = byProperty?.get(property);
  if (!entries && create && byProperty) {
    entries = new Map();
    byProperty.set(property, entries);
  }
  return entries;
}

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== "function") {
  const getOwn = (key: unknown, target: object, property?: Key) => table(target, property, false)?.get(key);
  const get = (key: unknown, target: object, property?: Key): unknown => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t)) {
      const value = getOwn(key, t, property);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  const define = (key: unknown, value: unknown, target: object, property?: Key) => {
    table(target, property, true)?.set(key, value);
  };
  Object.assign(reflect, {
    getMetadata: get,
    getOwnMetadata: getOwn,
    hasMetadata: (key: unknown, target: object, property?: Key) => get(key, target, property) !== undefined,
    hasOwnMetadata: (key: unknown, target: object, property?: Key) =>
      getOwn(key, target, property) !== undefined,
    defineMetadata: define,
    metadata: (key: unknown, value: unknown) => (target: object, property?: Key) =>
      define(key, value, target, property),
  });
}
