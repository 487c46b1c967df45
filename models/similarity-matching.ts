import { smZooPlugin } from '../src/zoo/similarity-matching-plugin.js';

export default smZooPlugin(4);
