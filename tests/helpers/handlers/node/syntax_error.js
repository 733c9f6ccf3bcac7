exports.handler = async () => { return {; };
