// Vite's `?url` imports: the URL the file is served from, in dev and in a build.
declare module '*?url' {
  const url: string;
  export default url;
}
