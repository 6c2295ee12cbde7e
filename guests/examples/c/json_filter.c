/* An action in C: stores only the payloads that are valid JSON, and refuses
 * the others (invalid input, counted as the action's failures).
 *
 *   {"topic": "#", "action": {"module": "c_json_filter", "function": "json_only"}, "pool": "pool1"}
 *
 * on message.publish, into `json_msg(msgid primary key, topic, payload)` of
 * the action's SQL pool, keyed by the message id so that a replay from the
 * outbox stores nothing twice. `tick` makes one host call and returns: what
 * the hook_cost benchmark times in each language. */

#include "cistern.h"
#include "json.h"

void exports_action_functions(action_list_function_info_t *ret) {
  ret->len = 2;
  ret->ptr = malloc(2 * sizeof(action_function_info_t));
  function_info(&ret->ptr[0], "json_only", CISTERN_HOOKS_TYPES_FUNCTION_KIND_WRITE, "message.publish");
  function_info(&ret->ptr[1], "tick", CISTERN_HOOKS_TYPES_FUNCTION_KIND_READ, NULL);
}

static bool json_only(action_context_t *ctx, cistern_hooks_types_message_t *m, action_error_t *err) {
  if (!is_json(m->payload.ptr, m->payload.len)) {
    return fail(err, CISTERN_HOOKS_TYPES_ERROR_INVALID_INPUT, "message %.*s on %.*s: the payload is not valid JSON",
                (int)m->id.len, m->id.ptr, (int)m->topic.len, m->topic.ptr);
  }
  cistern_hooks_sql_value_t values[3] = {
      text_value(m->id.ptr, m->id.len),
      text_value(m->topic.ptr, m->topic.len),
      text_value(m->payload.ptr, m->payload.len),
  };
  cistern_hooks_sql_list_value_t params = {values, 3};
  action_string_t statement =
      borrow("INSERT INTO json_msg(msgid, topic, payload) VALUES (?, ?, ?) ON CONFLICT(msgid) DO NOTHING");
  uint64_t rows;
  if (!cistern_hooks_sql_execute(&ctx->pool, &statement, &params, &rows, err)) {
    return false;
  }
  printf("stored %.*s\n", (int)m->topic.len, m->topic.ptr);
  fflush(stdout);
  return true;
}

bool exports_action_handle(action_context_t *ctx, action_event_t *event, action_outcome_t *ret, action_error_t *err) {
  memset(ret, 0, sizeof *ret);
  bool ok = true;
  if (equals(&ctx->function, "tick")) {
    (void)cistern_hooks_clock_now_ms();
  } else if (equals(&ctx->function, "json_only")) {
    if (event->tag == CISTERN_HOOKS_TYPES_EVENT_MESSAGE_PUBLISH) {
      ok = json_only(ctx, &event->val.message_publish.message, err);
    }
  } else {
    ok = fail(err, CISTERN_HOOKS_TYPES_ERROR_INVALID_INPUT, "no function %.*s", (int)ctx->function.len,
              ctx->function.ptr);
  }
  cistern_hooks_types_context_free(ctx);
  cistern_hooks_types_event_free(event);
  return ok;
}
