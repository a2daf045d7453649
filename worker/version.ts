/** The hub's name and version, as `GET /` reports them. */
export const HUB_NAME = 'hub';
export const HUB_VERSION = '0.1.0';
