/* Plugins for the tests, one variant per build (TP_VARIANT_<name>):
 *   good        tp_echo (returns its arguments), tp_fail (LD_PLUGIN_FAILED), tp_bad_input
 *               (LD_PLUGIN_BAD_INPUT), tp_not_json (returns text that is not JSON), tp_null
 *               (returns no text), tp_count (a counter kept by the plugin)
 *   bad_abi     claims ABI version 999
 *   no_init     exports no ld_plugin_init
 *   init_fails  ld_plugin_init reports an error
 *   malformed   registers a command whose name has a space
 *   duplicate   registers tp_echo (taken by `good`) and len (a builtin) */
#include <loaddensity/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each variant uses some of the helpers below. */
#define TP_UNUSED __attribute__((unused))

TP_UNUSED static char* copy_text(const char* s) {
  char* p = (char*)malloc(strlen(s) + 1);
  if (p) strcpy(p, s);
  return p;
}

TP_UNUSED static void free_text(void* user_data, char* result) {
  (void)user_data;
  free(result);
}

TP_UNUSED static int echo(void* user_data, const char* args_json, char** result) {
  (void)user_data;
  *result = copy_text(args_json);
  return LD_PLUGIN_OK;
}

/* A command that always answers the same: user_data is a `reply`. */
typedef struct reply {
  int status;
  const char* text; /* NULL: no text */
} reply;

TP_UNUSED static const reply fail_reply = {LD_PLUGIN_FAILED, "tp_fail: asked to fail"};
TP_UNUSED static const reply bad_input_reply = {LD_PLUGIN_BAD_INPUT,
                                                "tp_bad_input: the arguments are wrong"};
TP_UNUSED static const reply not_json_reply = {LD_PLUGIN_OK, "this is not JSON"};
TP_UNUSED static const reply null_reply = {LD_PLUGIN_OK, NULL};

TP_UNUSED static int fixed(void* user_data, const char* args_json, char** result) {
  const reply* r = (const reply*)user_data;
  (void)args_json;
  if (r->text) *result = copy_text(r->text);
  return r->status;
}

TP_UNUSED static int count(void* user_data, const char* args_json, char** result) {
  char buf[32];
  long* n = (long*)user_data;
  (void)args_json;
  ++*n;
  snprintf(buf, sizeof buf, "%ld", *n);
  *result = copy_text(buf);
  return LD_PLUGIN_OK;
}

#ifdef TP_VARIANT_bad_abi
LD_PLUGIN_EXPORT uint32_t ld_plugin_abi_version(void) { return 999u; }
#else
LD_PLUGIN_DECLARE_ABI_VERSION
#endif

#ifndef TP_VARIANT_no_init
TP_UNUSED static long counter = 0;

TP_UNUSED static const ld_plugin_param echo_params[] = {
    {"text", LD_PLUGIN_STRING, 1, NULL, "any text"},
    {"times", LD_PLUGIN_INTEGER, 0, "1", "a number"},
    {"extra", LD_PLUGIN_ANY, 0, NULL, NULL},
};

LD_PLUGIN_EXPORT int ld_plugin_init(ld_plugin_host* host) {
#if defined(TP_VARIANT_good) || defined(TP_VARIANT_bad_abi)
  ld_plugin_command commands[6];
  size_t i;
  memset(commands, 0, sizeof commands);
  commands[0].name = "tp_echo";
  commands[0].summary = "Returns its arguments.";
  commands[0].params = echo_params;
  commands[0].param_count = 3;
  commands[0].call = echo;
  commands[1].name = "tp_fail";
  commands[1].user_data = (void*)&fail_reply;
  commands[2].name = "tp_bad_input";
  commands[2].user_data = (void*)&bad_input_reply;
  commands[3].name = "tp_not_json";
  commands[3].user_data = (void*)&not_json_reply;
  commands[4].name = "tp_null";
  commands[4].user_data = (void*)&null_reply;
  for (i = 1; i <= 4; ++i) commands[i].call = fixed;
  commands[5].name = "tp_count";
  commands[5].call = count;
  commands[5].user_data = &counter;
  for (i = 0; i < 6; ++i) {
    commands[i].free_result = free_text;
    if (host->add_command(host, &commands[i]) != 0) return 1;
  }
  return 0;
#elif defined(TP_VARIANT_init_fails)
  host->set_error(host, "no licence key found");
  return 7;
#elif defined(TP_VARIANT_malformed)
  ld_plugin_command c;
  memset(&c, 0, sizeof c);
  c.name = "bad name";
  c.call = echo;
  c.free_result = free_text;
  return host->add_command(host, &c);
#elif defined(TP_VARIANT_duplicate)
  ld_plugin_command c;
  memset(&c, 0, sizeof c);
  c.call = echo;
  c.free_result = free_text;
  c.name = "tp_echo";
  if (host->add_command(host, &c) != 0) return 1;
  c.name = "len";
  return host->add_command(host, &c);
#else
  (void)host;
  return 1;
#endif
}
#endif
