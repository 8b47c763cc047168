#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/samplefmt.h>
#include <string.h>

// Error codes that FFmpeg defines as function-like macros, which Swift does not import.
static inline int vv_averror_eof(void) { return AVERROR_EOF; }
static inline int vv_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int vv_averror_enomem(void) { return AVERROR(ENOMEM); }
static inline int vv_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int vv_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int vv_averror_patchwelcome(void) { return AVERROR_PATCHWELCOME; }
static inline int64_t vv_av_nopts_value(void) { return AV_NOPTS_VALUE; }
