/* The loaddensity plugin ABI: a shared library that adds commands to a document's vocabulary.
 *
 * Plain C, so a plugin may be written in C, C++ or anything that exports C functions, and does
 * not depend on the compiler, standard library or JSON library loaddensity was built with.
 * Everything crosses the boundary as NUL-terminated UTF-8 JSON text.
 *
 * A plugin exports two functions (LD_PLUGIN_EXPORT makes them visible with C linkage):
 *
 *   uint32_t ld_plugin_abi_version(void);
 *       Returns LD_PLUGIN_ABI_VERSION as the plugin saw it when it was compiled. loaddensity
 *       calls it first and refuses a plugin built for another version without calling
 *       anything else, so no structure below is ever read with the wrong layout.
 *
 *   int ld_plugin_init(ld_plugin_host* host);
 *       Registers the plugin's commands with host->add_command and returns 0; a non-zero
 *       return (after host->set_error, ideally) refuses the whole plugin. Called once per
 *       process, however many documents or sessions load the library.
 *
 * Loading (LD_load_plugin {"path": "libx.so"} or `loaddensity --plugin libx.so`) is
 * all-or-nothing: a missing file or symbol, another ABI version, a malformed command or a name
 * already taken (by loaddensity, a builtin or another plugin) refuses the plugin with exit 2
 * and registers none of its commands. A library is never unloaded.
 *
 * Calls: the host binds and type-checks the arguments against the declared parameters (unknown,
 * missing and mistyped arguments are refused before the plugin is called, defaults filled in),
 * then calls `call` with the arguments as one JSON object. The host calls one plugin's commands
 * from one thread at a time (a lock per library), never on the load-generating hot path.
 */
#ifndef LOADDENSITY_PLUGIN_H
#define LOADDENSITY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised whenever a structure below or the meaning of a call changes. */
#define LD_PLUGIN_ABI_VERSION 1u

/* The JSON types a parameter accepts (a bit set). */
#define LD_PLUGIN_STRING 0x01u
#define LD_PLUGIN_INTEGER 0x02u
#define LD_PLUGIN_NUMBER 0x04u /* any number, integers included */
#define LD_PLUGIN_BOOL 0x08u
#define LD_PLUGIN_OBJECT 0x10u
#define LD_PLUGIN_ARRAY 0x20u
#define LD_PLUGIN_NULL 0x40u
#define LD_PLUGIN_ANY 0x7fu

/* What a call returns. */
#define LD_PLUGIN_OK 0        /* *result is JSON text (or NULL for null) */
#define LD_PLUGIN_FAILED 1    /* *result is an error message: the action failed (exit 1) */
#define LD_PLUGIN_BAD_INPUT 2 /* *result is an error message: the arguments are bad (exit 2) */

typedef struct ld_plugin_param {
  const char* name;         /* as in the document: {"name": value} */
  unsigned types;           /* LD_PLUGIN_* bits */
  int required;             /* non-zero: the document must give it */
  const char* default_json; /* JSON text of the default when absent (NULL: null) */
  const char* help;         /* one line for `loaddensity describe` (may be NULL) */
} ld_plugin_param;

/* Runs one command. `args_json` is a JSON object holding every declared parameter. Set
 * *result to a buffer the plugin allocated (JSON text on LD_PLUGIN_OK, a message otherwise),
 * or leave it NULL; the host copies it and hands it back to `free_result`. */
typedef int (*ld_plugin_call_fn)(void* user_data, const char* args_json, char** result);
typedef void (*ld_plugin_free_fn)(void* user_data, char* result);

typedef struct ld_plugin_command {
  const char* name;    /* letters, digits and '_', not starting with a digit */
  const char* summary; /* one line for --list-commands (may be NULL) */
  const ld_plugin_param* params;
  size_t param_count;
  ld_plugin_call_fn call;        /* required */
  ld_plugin_free_fn free_result; /* required when call may set *result */
  void* user_data;               /* passed back to call and free_result */
} ld_plugin_command;

typedef struct ld_plugin_host ld_plugin_host;
struct ld_plugin_host {
  uint32_t abi_version; /* LD_PLUGIN_ABI_VERSION of the host */
  void* host_data;      /* the host's; leave it alone */
  /* Copies the command (strings and parameter list); returns 0, or non-zero when it is
   * malformed (the host keeps the reason and reports it when init returns). */
  int (*add_command)(ld_plugin_host* host, const ld_plugin_command* command);
  /* Why ld_plugin_init failed, named in the host's error message. */
  void (*set_error)(ld_plugin_host* host, const char* message);
};

typedef uint32_t (*ld_plugin_abi_version_fn)(void);
typedef int (*ld_plugin_init_fn)(ld_plugin_host* host);

#define LD_PLUGIN_ABI_VERSION_SYMBOL "ld_plugin_abi_version"
#define LD_PLUGIN_INIT_SYMBOL "ld_plugin_init"

#ifdef __cplusplus
}
#define LD_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))
#else
#define LD_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Defines ld_plugin_abi_version() for the version this header declares. */
#define LD_PLUGIN_DECLARE_ABI_VERSION \
  LD_PLUGIN_EXPORT uint32_t ld_plugin_abi_version(void) { return LD_PLUGIN_ABI_VERSION; }

#endif /* LOADDENSITY_PLUGIN_H */
