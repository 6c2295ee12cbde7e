// An action in JavaScript: enriches a JSON payload and stores it in the
// action's SQL pool (SQLite in the tests) through the `sql` interface.
//
//   {"module": "js_enrich", "function": "enrich"}   on message.publish
//
// The stored document is the payload's object plus what the broker knows:
// the topic and its levels, the sender, the time it arrived (ISO 8601) and,
// for a `celsius` reading, `fahrenheit`. A payload that is not a JSON object
// is refused (invalid input, counted as the action's failure). Keyed by the
// message id, so a replay from the outbox stores nothing twice.

import { execute } from 'cistern:hooks/sql@0.2.2';
import { nowMs } from 'cistern:hooks/clock@0.2.2';

const NOTHING = { deliver: [], subscribe: [] };

export function functions() {
  return [
    { name: 'enrich', hooks: ['message.publish'], kind: 'write' },
    // One host call and back: what the hook_cost benchmark times in each language.
    { name: 'tick', hooks: [], kind: 'read' },
  ];
}

export function handle(ctx, event) {
  if (ctx.function === 'tick') {
    nowMs();
    return NOTHING;
  }
  if (ctx.function !== 'enrich') {
    throw { tag: 'invalid-input', val: `no function ${ctx.function}` };
  }
  if (event.tag !== 'message-publish') {
    return NOTHING;
  }
  const { message } = event.val;
  const doc = parseObject(message);
  if (typeof doc.celsius === 'number') {
    doc.fahrenheit = Math.round((doc.celsius * 9 / 5 + 32) * 10) / 10;
  }
  doc.topic = message.topic;
  doc.levels = message.topic.split('/');
  doc.sender = message.sender;
  doc.received_at = new Date(Number(message.timestampMs)).toISOString();
  execute(
    ctx.pool,
    'INSERT INTO enriched(msgid, topic, doc) VALUES (?, ?, ?) ON CONFLICT(msgid) DO NOTHING',
    [text(message.id), text(message.topic), text(JSON.stringify(doc))],
  );
  console.log(`enriched ${message.id} on ${message.topic}`);
  return NOTHING;
}

function parseObject(message) {
  let doc;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(message.payload));
  } catch (e) {
    throw { tag: 'invalid-input', val: `message ${message.id}: the payload is not JSON (${e})` };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw { tag: 'invalid-input', val: `message ${message.id}: the payload is not a JSON object` };
  }
  return doc;
}

function text(val) {
  return { tag: 'text', val };
}
