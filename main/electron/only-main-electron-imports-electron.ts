// The engine's tsconfig maps the module name `electron` to this file, which is not part of the
// engine's project: an engine file that imports electron fails to type-check with TS6307, naming
// this file. Only main/electron/ may import electron (the engine runs under the CLI and browser
// mode too).
export {};
