#ifndef VIBEVOICE_FFMPEG_LOG_H
#define VIBEVOICE_FFMPEG_LOG_H

/// FFmpeg writes its own messages on standard error. `vv_ffmpeg_capture_log` routes them here instead:
/// nothing is printed, and the last error line logged on each thread is kept for the message of a failed
/// open or decode (the loader runs a decode on one thread from open to close, with single-threaded decoders).

/// Installs the log callback (idempotent).
void vv_ffmpeg_capture_log(void);

/// Clears the calling thread's last logged error.
void vv_ffmpeg_clear_last_error(void);

/// The calling thread's last logged error line ("" when none); valid until the thread's next FFmpeg call.
const char *vv_ffmpeg_last_error_line(void);

#endif
