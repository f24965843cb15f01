/** What an API key may do. Pure: configuration (seeded keys), the API and the CLI share the list. */
export const roles = ['runner', 'approver', 'admin'] as const;
export type Role = (typeof roles)[number];
