/* h264_enc: H.264 encoding of the session's framebuffer with openh264, for
 * RDP's graphics pipeline (AVC420, MS-RDPEGFX 2.2.4.4).
 *
 * The encoder keeps a YUV 4:2:0 copy of the framebuffer and converts only the
 * damaged rectangles from RGB (BT.709; full range unless asked otherwise,
 * because that is what RDP clients convert back with: see h264_enc.c), then
 * encodes a whole frame with openh264 in screen content mode: one slice, no B
 * frames, no frame skipping, one thread.
 *
 * The stream is Annex B (start codes included), Constrained Baseline (CAVLC),
 * with constant SPS/PPS ids; the SPS and PPS come before every IDR. IDR frames
 * are made only for the first frame and when asked (force_idr). The coded
 * picture is the frame rounded up to a multiple of 16 in both directions, as
 * MS-RDPEGFX 2.2.4.4 requires, with no cropping in the SPS: the extra columns
 * and rows repeat the last ones, and the client crops with the region rects.
 *
 * Errors: functions return 0 or a negative errno and set a GError in the
 * display domain ("aula-display-error") whose code is the positive errno:
 *   EINVAL  a parameter or argument is out of range (the message says which)
 *   EIO     openh264 refused the settings, or failed to encode a frame: the
 *           encoder is then made again, and the next frame is an IDR
 *
 * An encoder is used from one thread at a time. */
#ifndef AULA_H264_ENC_H
#define AULA_H264_ENC_H

#include <glib.h>
#include <stdint.h>

#include "display/fb_source.h"

struct h264_enc;

/* Rate for full-screen motion unless told otherwise: 10 Mbit/s at 30 fps,
 * 42 KB a frame (FreeRDP's shadow server encodes everything at this rate). */
#define H264_MOTION_KBPS 10000

struct h264_enc_params {
    int width, height;       /* of the frame, 1..FB_MAX_DIM; together at most 36864
                              * macroblocks (H.264 level 5.2), e.g. 4096x2304 */
    int max_fps;             /* 1..60, e.g. 30 */
    int bitrate_kbps;        /* target, up to 240000; 0: constant quality (qp) */
    int qp;                  /* 0..51 when bitrate_kbps is 0; 0 picks 22 */
    gboolean limited_range;  /* BT.709 limited range (Y 16..235) instead of the
                              * full range RDP clients expect; for other users */
    int motion_kbps;         /* constant quality only: while most of the frame
                              * changes and frames cost more than this rate
                              * allows (full-screen motion), rate control at
                              * this bitrate; 0: never */
};

/* Make an encoder for frames of params' size. Caller frees with h264_enc_free. */
int h264_enc_new(const struct h264_enc_params *params, struct h264_enc **encp, GError **error);
void h264_enc_free(struct h264_enc *enc);

/* Encode one frame of rgbx (FB_BPP bytes per pixel, red in the lowest byte,
 * stride bytes per row, the size given at creation) of which only damage
 * changed since the last call (n == 0 with damage NULL: all of it; n == 0 with
 * damage set: nothing). Rects are clipped to the frame. The first frame is
 * always converted whole.
 * force_idr asks for a key frame (a new client, a lost frame).
 * *datap (borrowed until the next call or h264_enc_free) and *lenp get the
 * bitstream; *lenp is 0 only if openh264 skipped the frame, which these
 * settings do not ask it to do.
 * Returns 0, or -errno with the reason in error. */
int h264_enc_encode(struct h264_enc *enc, const uint8_t *rgbx, int stride,
                    const struct fb_rect *damage, int n, gboolean force_idr,
                    const uint8_t **datap, size_t *lenp, GError **error);

/* Change the target bitrate (0 leaves it; above the maximum: the maximum) at
 * run time, e.g. from frame acknowledgement pacing. An encoder made for
 * constant quality (bitrate_kbps 0) keeps its qp. */
void h264_enc_set_bitrate(struct h264_enc *enc, int bitrate_kbps);

/* Switch between constant quality (bitrate_kbps 0: the qp it was made with)
 * and rate control at bitrate_kbps. openh264 is made again: the next frame
 * is a key frame. -1 (logged) when openh264 refuses; the mode is then
 * unchanged. */
int h264_enc_set_mode(struct h264_enc *enc, int bitrate_kbps);

/* What the last h264_enc_encode did, for statistics and benchmarks. */
struct h264_enc_frame_info {
    gboolean idr;            /* the frame is an IDR (SPS and PPS came with it) */
    int64_t convert_ns;      /* time spent converting RGB to YUV */
    int64_t encode_ns;       /* time spent in openh264 */
    gboolean motion;         /* encoded under motion's rate control */
    gboolean whole;          /* the whole picture was brought back to constant
                              * quality: the client must take all of it */
};
/* Motion (see motion_kbps) ended, e.g. nothing has changed for a while: the
 * next frame goes back to constant quality and is a whole picture (its
 * frame info says whole). FALSE if the encoder was not in motion. */
gboolean h264_enc_end_motion(struct h264_enc *enc);

void h264_enc_last_frame(const struct h264_enc *enc, struct h264_enc_frame_info *info);

#endif
