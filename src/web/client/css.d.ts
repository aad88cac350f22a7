/** esbuild loads .css files as text (src/web/assets.ts). */
declare module '*.css' {
  const text: string;
  export default text;
}
