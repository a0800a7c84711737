// The RoutingState is immutable once built: requests in flight share it, and a reload replaces it whole.

/**
 * Freezes plain objects and arrays; Maps' and Sets' entries and RegExps (whose lastIndex exec writes)
 * stay as they are (read-only by type). Freezing first marks a visited object: a big state (50,000
 * locations and their routing tries) is walked once, without a visited set.
 */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || value instanceof RegExp || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  } else if (value instanceof Map) {
    for (const v of value.values()) deepFreeze(v);
  } else {
    const o = value as Record<string, unknown>;
    for (const k in o) deepFreeze(o[k]);
  }
  return value;
}
