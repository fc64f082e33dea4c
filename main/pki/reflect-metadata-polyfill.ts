// @peculiar/x509 builds on tsyringe, which refuses to load unless the Reflect metadata API
// (Reflect.getMetadata & co., a TC39 proposal never shipped in Node) exists. tsyringe only uses
// three of its functions, so we provide exactly those rather than a global polyfill package.
// Imported for its side effect, before @peculiar/x509 (see x509.ts); a real polyfill, when one
// is already loaded, is left alone.

type MetadataKey = unknown;
type PropertyKey = string | symbol | undefined;

interface ReflectMetadata {
  getMetadata(key: MetadataKey, target: object, property?: PropertyKey): unknown;
  getOwnMetadata(key: MetadataKey, target: object, property?: PropertyKey): unknown;
  defineMetadata(key: MetadataKey, value: unknown, target: object, property?: PropertyKey): void;
}

const store = new WeakMap<object, Map<PropertyKey, Map<MetadataKey, unknown>>>();

function ownTable(target: object, property: PropertyKey, create: boolean): Map<MetadataKey, unknown> | undefined {
  let byProperty = store.get(target);
  if (!byProperty) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let table = byProperty.get(property);
  if (!table && create) {
    table = new Map();
    byProperty.set(property, table);
  }
  return table;
}

const metadataApi: ReflectMetadata = {
  getOwnMetadata(key, target, property) {
    return ownTable(target, property, false)?.get(key);
  },
  // Like the proposal: look on the object, then up its prototype chain (class inheritance).
  getMetadata(key, target, property) {
    for (let current: object | null = target; current; current = Object.getPrototypeOf(current)) {
      const table = ownTable(current, property, false);
      if (table?.has(key)) return table.get(key);
    }
    return undefined;
  },
  defineMetadata(key, value, target, property) {
    ownTable(target, property, true)!.set(key, value);
  },
};

const reflect = Reflect as unknown as Partial<ReflectMetadata>;
if (typeof reflect.getMetadata !== 'function') Object.assign(Reflect, metadataApi);
