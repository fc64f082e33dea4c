// The three kinds of node a lab has. Shared by the spec, the engine and every UI.

export const ROLES = ['lb', 'controller', 'worker'] as const;
export type Role = (typeof ROLES)[number];
