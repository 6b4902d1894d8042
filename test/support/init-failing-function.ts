/** A function whose init phase fails: importing it throws, as a module with a bad configuration would. */
const required = process.env.REQUIRED_SETTING;
if (!required) throw new Error('REQUIRED_SETTING is not set');

export const handler = async () => required;
