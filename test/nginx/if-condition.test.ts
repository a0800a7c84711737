import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIfCondition } from '../../src/nginx/if-condition.ts';

test('if conditions: parentheses alone or glued, the four kinds', () => {
  assert.deepEqual(parseIfCondition(['($a)']), { kind: 'value', value: '$a' });
  assert.deepEqual(parseIfCondition(['(', '$a', '=', 'b', ')']), { kind: 'compare', op: '=', left: '$a', right: 'b' });
  assert.deepEqual(parseIfCondition(['($a', '!~*', '^x)']), { kind: 'regex', op: '!~*', left: '$a', right: '^x' });
  assert.deepEqual(parseIfCondition(['(!-f', '$request_filename)']), { kind: 'file', op: '!-f', operand: '$request_filename' });
});

test('if conditions: nginx\'s error texts', () => {
  const cases: [string[], string][] = [
    [['$a'], 'invalid condition "$a"'],
    [['($a'], 'invalid condition "$a"'],
    [['()'], 'invalid condition ")"'],
    [['(', ')'], 'invalid condition ")"'],
    [['(a)'], 'invalid condition "a"'],
    [['($a', '=)'], 'invalid condition "$a"'],
    [['($a', 'like', 'b)'], 'unexpected "like" in condition'],
    [['(-z', '$a)'], 'invalid condition "-z"'],
    [['(-f)'], 'invalid condition "-f"'],
  ];
  for (const [args, error] of cases) assert.deepEqual(parseIfCondition(args), { error }, args.join(' '));
});
