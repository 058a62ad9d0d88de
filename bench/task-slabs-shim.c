/* Preloaded into `sluice serve` by bench/task-slabs (and only there).
 *
 * Swift's task allocator gives every async frame a place in its task's slabs (1,016-byte
 * `malloc`s, or one of the frame's size when bigger), and keeps a task's slabs until the task
 * ends: an idle connection or SSE stream holds as many slabs as the deepest chain of frames its
 * task ever had. This shim shows which chain that was and where each slab was opened:
 *
 * - `swift_task_alloc` / `swift_task_dealloc` (the calls a Swift binary makes for its callees'
 *   frames) keep each task's live allocations: size and the calling function;
 * - `malloc` of 1,000–4,000 bytes from libswift_Concurrency (a new slab) records the task's
 *   depth and top allocations at that moment, and the whole chain at the deepest opening.
 *
 * Allocations the runtime makes inside itself (cancellation records, continuations) are not seen
 * by the first part, but a slab they open is seen by the second. When the file named by
 * TASK_SLABS_TRIGGER appears, every task's record is written to TASK_SLABS_OUT and the trigger
 * removed. Diagnostic only: one global lock around every frame allocation. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXD 128
#define TASKS 65536
#define OPENS 16

typedef struct { void *ptr; size_t size; void *caller; } Frame;
typedef struct { int depth; size_t size; Frame top[4]; } Open;
typedef struct {
    void *task;
    int depth;
    Frame live[MAXD];
    int opens;
    Open open[OPENS];
    int deepest;
    Frame chain[MAXD];
} Task;

static Task tasks[TASKS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int inside;
static uintptr_t concurrencyStart, concurrencyEnd;
extern void *swift_task_getCurrent(void);
extern void *__libc_malloc(size_t);

static Task *lookup(void *task, int create) {
    uintptr_t hash = ((uintptr_t)task >> 4) * 2654435761u;
    for (int i = 0; i < TASKS; i++) {
        Task *t = &tasks[(hash + i) % TASKS];
        if (t->task == task) return t;
        if (!t->task) {
            if (!create) return 0;
            memset(t, 0, sizeof *t);
            t->task = task;
            return t;
        }
    }
    return 0;
}

void *swift_task_alloc(size_t size) {
    static void *(*real)(size_t);
    if (!real) real = dlsym(RTLD_NEXT, "swift_task_alloc");
    void *ptr = real(size);
    void *task = swift_task_getCurrent();
    pthread_mutex_lock(&lock);
    Task *t = lookup(task, 1);
    if (t && t->depth < MAXD) t->live[t->depth++] = (Frame){ptr, size, __builtin_return_address(0)};
    pthread_mutex_unlock(&lock);
    return ptr;
}

void swift_task_dealloc(void *ptr) {
    static void (*real)(void *);
    if (!real) real = dlsym(RTLD_NEXT, "swift_task_dealloc");
    void *task = swift_task_getCurrent();
    pthread_mutex_lock(&lock);
    Task *t = lookup(task, 0);
    while (t && t->depth > 0) {  // stack discipline: pop through ptr
        if (t->live[--t->depth].ptr == ptr) break;
    }
    pthread_mutex_unlock(&lock);
    real(ptr);
}

static void slabOpened(size_t size) {
    void *task = swift_task_getCurrent();
    if (!task) return;
    pthread_mutex_lock(&lock);
    Task *t = lookup(task, 1);
    if (t && t->opens < OPENS) {
        Open *o = &t->open[t->opens++];
        o->depth = t->depth;
        o->size = size;
        for (int k = 0; k < 4; k++) o->top[k] = t->depth - 1 - k >= 0 ? t->live[t->depth - 1 - k] : (Frame){0};
        if (t->depth > t->deepest) {
            t->deepest = t->depth;
            memcpy(t->chain, t->live, sizeof(Frame) * t->depth);
        }
    }
    pthread_mutex_unlock(&lock);
}

void *malloc(size_t size) {
    void *ptr = __libc_malloc(size);
    if (size >= 1000 && size <= 4000 && !inside) {
        inside = 1;
        if (!concurrencyStart) {
            Dl_info info;
            void *f = dlsym(RTLD_NEXT, "swift_task_alloc");
            if (f && dladdr(f, &info)) {
                concurrencyStart = (uintptr_t)info.dli_fbase;
                concurrencyEnd = concurrencyStart + 0x200000;
            }
        }
        uintptr_t caller = (uintptr_t)__builtin_return_address(0);
        if (caller >= concurrencyStart && caller < concurrencyEnd) slabOpened(size);
        inside = 0;
    }
    return ptr;
}

static void location(FILE *f, Frame frame) {
    Dl_info info;
    uintptr_t offset = (uintptr_t)frame.caller;
    const char *module = "?";
    if (dladdr(frame.caller, &info)) {
        offset -= (uintptr_t)info.dli_fbase;
        module = strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1 : info.dli_fname;
    }
    fprintf(f, " %zu@%s+%lx", frame.size, module, (unsigned long)offset);
}

static void dump(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < TASKS; i++) {
        Task *t = &tasks[i];
        if (!t->task || t->opens == 0) continue;
        fprintf(f, "task %p opens %d deepest %d:", t->task, t->opens, t->deepest);
        for (int j = 0; j < t->deepest; j++) location(f, t->chain[j]);
        fprintf(f, "\n");
        for (int k = 0; k < t->opens; k++) {
            fprintf(f, "open %p depth %d size %zu:", t->task, t->open[k].depth, t->open[k].size);
            for (int j = 0; j < 4 && t->open[k].top[j].caller; j++) location(f, t->open[k].top[j]);
            fprintf(f, "\n");
        }
    }
    pthread_mutex_unlock(&lock);
    fclose(f);
}

static void *watcher(void *unused) {
    (void)unused;
    const char *trigger = getenv("TASK_SLABS_TRIGGER"), *out = getenv("TASK_SLABS_OUT");
    if (!trigger || !out) return 0;
    for (;;) {
        sleep(1);
        if (access(trigger, F_OK) == 0) {
            dump(out);
            unlink(trigger);
        }
    }
    return 0;
}

__attribute__((constructor)) static void start(void) {
    pthread_t thread;
    pthread_create(&thread, 0, watcher, 0);
}
