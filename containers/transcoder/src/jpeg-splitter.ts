// Splits ffmpeg's image2pipe MJPEG output into whole JPEG files. A JPEG starts with SOI (FF D8)
// and ends with EOI (FF D9); inside the entropy-coded data every FF byte is stuffed with 00, so an
// FF D9 pair only ever means the end (ffmpeg writes no EXIF thumbnails that could nest one).
const MAX_JPEG_BYTES = 4 * 1024 * 1024;

export class JpegSplitter {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const images: Buffer[] = [];
    for (;;) {
      const start = this.#buffer.indexOf(Buffer.from([0xff, 0xd8]));
      if (start < 0) {
        this.#buffer = Buffer.alloc(0);
        return images;
      }
      const end = this.#buffer.indexOf(Buffer.from([0xff, 0xd9]), start + 2);
      if (end < 0) {
        this.#buffer = this.#buffer.subarray(start);
        if (this.#buffer.length > MAX_JPEG_BYTES) this.#buffer = Buffer.alloc(0);
        return images;
      }
      images.push(Buffer.from(this.#buffer.subarray(start, end + 2)));
      this.#buffer = this.#buffer.subarray(end + 2);
    }
  }
}
