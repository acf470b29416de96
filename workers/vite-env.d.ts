// Vite's `?url` imports: the URL the file is served from, in dev and in a build.
declare module '*?url' {
  const url: string;
  export default url;
}

// The CPU engine's kernels (vite.config.ts's cpuKernels plugin): the .wasm's URL, the threaded build's,
// and the two relaxed-SIMD builds'.
declare module 'virtual:edgetier-cpu-kernels' {
  const url: string;
  export default url;
  export const threaded: string;
  export const relaxed: string;
  export const relaxedThreaded: string;
}
