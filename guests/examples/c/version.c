/* One guest in several versions, for the hot-swap test: each stores the
 * messages it handles with its VERSION, a build-time constant, in
 * `versions(msgid primary key, payload, version)`. FUNCTION names its one
 * function ("record"; another name makes a version whose configured function
 * is gone). */

#include "cistern.h"

#ifndef VERSION
#error "build with -DVERSION=<n>"
#endif
#ifndef FUNCTION
#define FUNCTION "record"
#endif

void exports_action_functions(action_list_function_info_t *ret) {
  ret->len = 1;
  ret->ptr = malloc(sizeof(action_function_info_t));
  function_info(&ret->ptr[0], FUNCTION, CISTERN_HOOKS_TYPES_FUNCTION_KIND_WRITE, "message.publish");
}

bool exports_action_handle(action_context_t *ctx, action_event_t *event, action_outcome_t *ret, action_error_t *err) {
  memset(ret, 0, sizeof *ret);
  bool ok = true;
  if (event->tag == CISTERN_HOOKS_TYPES_EVENT_MESSAGE_PUBLISH) {
    cistern_hooks_types_message_t *m = &event->val.message_publish.message;
    cistern_hooks_sql_value_t values[3] = {
        text_value(m->id.ptr, m->id.len),
        text_value(m->payload.ptr, m->payload.len),
        {.tag = CISTERN_HOOKS_SQL_VALUE_INT, .val.int_ = VERSION},
    };
    cistern_hooks_sql_list_value_t params = {values, 3};
    action_string_t statement =
        borrow("INSERT INTO versions(msgid, payload, version) VALUES (?, ?, ?) ON CONFLICT(msgid) DO NOTHING");
    uint64_t rows;
    ok = cistern_hooks_sql_execute(&ctx->pool, &statement, &params, &rows, err);
  }
  cistern_hooks_types_context_free(ctx);
  cistern_hooks_types_event_free(event);
  return ok;
}
