/**
 * Sets `key` on `target` as an own, enumerable, writable property. Unlike assignment, a key
 * `__proto__` (from JSON, a protobuf Struct, a user's context) stays an ordinary key instead of
 * replacing the object's prototype.
 */
export function setOwn<V>(target: Record<string, V>, key: string, value: NoInfer<V>): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
