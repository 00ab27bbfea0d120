// Node's Buffer has latin1 fast paths that @types/node does not declare; they skip the encoding
// switch of toString()/write() on the hot path of header rewriting.
declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string
    latin1Write(text: string, offset?: number, length?: number): number
  }
}
export {}
