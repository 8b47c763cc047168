#include "ffmpeg_log.h"

#include <libavutil/log.h>
#include <stdarg.h>
#include <string.h>

static _Thread_local char last_error[256];

static void capture(void *avcl, int level, const char *fmt, va_list vl) {
    if (level > AV_LOG_ERROR) return;
    char line[sizeof last_error];
    int print_prefix = 0;
    if (av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix) < 0) return;
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
    if (n > 0) memcpy(last_error, line, n + 1);
}

void vv_ffmpeg_capture_log(void) { av_log_set_callback(capture); }

void vv_ffmpeg_clear_last_error(void) { last_error[0] = 0; }

const char *vv_ffmpeg_last_error_line(void) { return last_error; }
